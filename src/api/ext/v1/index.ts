/** The extension endpoints (backups, runs, long operations, webhooks, the calling token), served under /ext/v1/ with their own OpenAPI document. */
import type { EndpointDefinition } from '../../framework/endpoint.js';
import listBackups from './backups/list.js';
import restoreBackup from './backups/restore.js';
import verifyBackup from './backups/verify.js';
import currentToken from './console/current-token.js';
import operationInfo from './operations/info.js';
import runPolicy from './policies/run.js';
import lastRunPerPolicy from './runs/last-per-policy.js';
import listRuns from './runs/list.js';
import createWebhook from './webhooks/create.js';
import deleteWebhook from './webhooks/delete.js';
import listWebhookDeliveries from './webhooks/deliveries.js';
import listWebhooks from './webhooks/list.js';

export const extensionEndpoints: readonly EndpointDefinition[] = [
  listBackups,
  runPolicy,
  listRuns,
  lastRunPerPolicy,
  currentToken,
  restoreBackup,
  verifyBackup,
  operationInfo,
  createWebhook,
  listWebhooks,
  deleteWebhook,
  listWebhookDeliveries,
];
