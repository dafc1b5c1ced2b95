/**
 * `dbp webhook create|list|delete|deliveries`: an organization's webhooks from the command line
 * (docs/WEBHOOKS.md). The URL and secret are checked as the API checks them, before anything is
 * opened; the secret is never printed back.
 */
import { Option, type Command } from 'commander';
import { webhookInputErrors } from '../../domain/webhook-rules.js';
import { NotFound } from '../../services/errors.js';
import { MAX_DELIVERIES_LISTED, type WebhookRecord } from '../../services/webhooks.js';
import { groupCommand, isoTime, leafCommand, printJson, printObject, printTable, UsageError, wholeNumber } from '../options.js';
import { withServices } from '../with-services.js';
import { findOrganization } from './inventory.js';

function webhookFields(webhook: WebhookRecord) {
  return {
    id: webhook.id,
    organization_id: webhook.organization_id,
    url: webhook.url,
    description: webhook.description,
    enabled: webhook.enabled,
    created_at: webhook.created_at,
  };
}

export function registerWebhookCommands(program: Command): void {
  const webhook = groupCommand(program, 'webhook', "webhooks: an organization's events POSTed to a URL, signed", [
    'dbp webhook create --org acme --url https://hooks.example.com/dbp --secret "$SECRET"',
    'dbp webhook list --org acme',
  ]);

  leafCommand(webhook, 'create', 'add a webhook: run failed, run missed, verify failed and backup restored events are POSTed to its URL', [
    'dbp webhook create --org acme --url https://hooks.example.com/dbp --secret "$SECRET"',
    'DBP_WEBHOOK_SECRET=… dbp webhook create --org acme --url http://10.0.0.5:9000/events --description "on-call bridge" --json',
  ])
    .requiredOption('--org <org>', 'an organization id or sub-domain (required)')
    .requiredOption('--url <url>', 'an http or https URL (required)')
    .addOption(
      new Option('--secret <secret>', 'the shared secret the bodies are signed with, at least 16 characters (required)').env('DBP_WEBHOOK_SECRET').makeOptionMandatory(),
    )
    .option('--description <text>', 'what it is for')
    .action(async (flags: { org: string; url: string; secret: string; description?: string }, command: Command) => {
      const errors = webhookInputErrors({ url: flags.url.trim(), secret: flags.secret, description: flags.description });
      if (errors.length > 0) throw new UsageError(errors.join('; '));
      await withServices(command, async (services, json) => {
        const organization = await findOrganization(services, flags.org);
        const created = await services.webhooks.create({ organizationId: organization.id, url: flags.url, secret: flags.secret, description: flags.description });
        printObject(json, 'Webhook created', webhookFields(created));
      });
    });

  leafCommand(webhook, 'list', "the organization's webhooks (never their secrets)", ['dbp webhook list --org acme --json'])
    .requiredOption('--org <org>', 'an organization id or sub-domain (required)')
    .action(async (flags: { org: string }, command: Command) =>
      withServices(command, async (services, json) => {
        const organization = await findOrganization(services, flags.org);
        const webhooks = (await services.webhooks.listForOrganization(organization.id)).map(webhookFields);
        if (json) return printJson(webhooks);
        printTable(
          ['id', 'url', 'enabled', 'created_at', 'description'],
          webhooks.map((w) => [w.id, w.url, w.enabled ? 'yes' : 'no', isoTime(w.created_at), w.description ?? '']),
          `No webhooks in ${organization.sub_domain}`,
        );
      }),
    );

  leafCommand(webhook, 'delete', 'delete a webhook, with its deliveries and their log', ['dbp webhook delete whk_AbCdEfGh12345678'])
    .argument('<ID>', 'the webhook id')
    .action(async (id: string, _flags: object, command: Command) =>
      withServices(command, async (services, json) => {
        const found = await services.webhooks.find(id);
        if (!found) throw new NotFound(`No webhook with id "${id}"`);
        const deleted = await services.webhooks.delete(found.id);
        printObject(json, 'Webhook deleted', webhookFields(deleted));
      }),
    );

  leafCommand(webhook, 'deliveries', "a webhook's deliveries, newest first, with each attempt", [
    'dbp webhook deliveries whk_AbCdEfGh12345678',
    'dbp webhook deliveries whk_AbCdEfGh12345678 --limit 10 --json',
  ])
    .argument('<ID>', 'the webhook id')
    .addOption(new Option('--limit <n>', `the newest this many (default 100, at most ${MAX_DELIVERIES_LISTED})`).argParser(wholeNumber('limit', 1, MAX_DELIVERIES_LISTED)))
    .action(async (id: string, flags: { limit?: number }, command: Command) =>
      withServices(command, async (services, json) => {
        const found = await services.webhooks.find(id);
        if (!found) throw new NotFound(`No webhook with id "${id}"`);
        const deliveries = await services.webhooks.deliveries(found.id, flags.limit ?? 100);
        if (json) return printJson(deliveries);
        printTable(
          ['id', 'event_id', 'type', 'status', 'attempts', 'created_at', 'last'],
          deliveries.map((d) => [
            d.id, d.event_id, d.event_type, d.status, String(d.attempts), isoTime(d.created_at),
            d.last_error ?? (d.last_http_status === null ? '' : `HTTP ${d.last_http_status}`),
          ]),
          'No deliveries.',
        );
      }),
    );
}
