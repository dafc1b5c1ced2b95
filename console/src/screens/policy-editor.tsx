/**
 * Creates or changes a policy, with the next five run times previewed as the schedule is edited and
 * the API's validation errors shown beside the fields they are about. An existing policy can also be
 * moved to the trash or given a scheduled deletion here.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiFailure } from '../api';
import { dateTime, viewerTimeZone } from '../format';
import { nextRuns } from '../preview';
import { go, href } from '../route';
import { can, useSession } from '../session-context';
import type { Interval, Policy } from '../types';
import { asFailure, ErrorMessage, Loading, Notice, ScreenHeading, useLoad } from '../ui';

type FieldName = 'retention' | 'interval' | 'frequency' | 'time' | 'minute';

interface Values {
  retention: string;
  interval: Interval;
  frequency: string;
  time: string;
  minute: string;
}

const DEFAULTS: Values = { retention: '7', interval: 'daily', frequency: '1', time: '2', minute: '30' };

/** Which field an API validation sentence is about (policy-rules.ts words them `<Label> …`). */
const FIELD_OF_SENTENCE: [string, FieldName][] = [
  ['Retention', 'retention'],
  ['Schedule interval', 'interval'],
  ['Schedule frequency', 'frequency'],
  ['Schedule time', 'time'],
  ['Schedule minute', 'minute'],
];

function fieldErrors(failure: ApiFailure | null): { byField: Partial<Record<FieldName, string[]>>; other: string[] } {
  const byField: Partial<Record<FieldName, string[]>> = {};
  const other: string[] = [];
  for (const sentence of failure?.validationErrors ?? []) {
    const field = FIELD_OF_SENTENCE.find(([label]) => sentence.startsWith(label))?.[1];
    if (field) (byField[field] ??= []).push(sentence);
    else other.push(sentence);
  }
  return { byField, other };
}

/** A number field's text as the API should get it: a number when it is one, else the text (the API says what is wrong). */
function numeric(text: string): number | string | null {
  if (text.trim() === '') return null;
  const value = Number(text);
  return Number.isFinite(value) ? value : text;
}

export function PolicyEditor({ policyId, target }: { policyId: string | null; target: { type: 'Disk' | 'VirtualMachine'; id: string } | null }) {
  const session = useSession();
  const loaded = useLoad<Policy | null>(
    () => (policyId ? api<{ disk_backup_policy: Policy }>('GET', `/core/v1/disk_backup_policies/${policyId}`).then((a) => a.disk_backup_policy) : Promise.resolve(null)),
    policyId ?? 'new',
  );
  if (!can(session, 'disk_backup_policies')) {
    return (
      <section>
        <ScreenHeading title="Policy">Policy</ScreenHeading>
        <Notice>This token may only read policies (changing them needs the <code>disk_backup_policies</code> scope).</Notice>
      </section>
    );
  }
  if (policyId && !loaded.data) {
    return (
      <section>
        <ScreenHeading title="Edit policy">Edit policy</ScreenHeading>
        {loaded.error ? <ErrorMessage error={loaded.error} onRetry={loaded.reload} /> : <Loading what="the policy" />}
      </section>
    );
  }
  if (!policyId && !target) {
    return (
      <section>
        <ScreenHeading title="New policy">New policy</ScreenHeading>
        <Notice>
          Choose a disk on the <a href="#/">overview</a> to add a policy for it.
        </Notice>
      </section>
    );
  }
  return <PolicyForm policy={loaded.data} target={target} />;
}

function PolicyForm({ policy, target }: { policy: Policy | null; target: { type: 'Disk' | 'VirtualMachine'; id: string } | null }) {
  const { organization } = useSession();
  const initial: Values = policy
    ? {
        retention: String(policy.retention),
        interval: policy.schedule.interval,
        frequency: String(policy.schedule.frequency ?? 1),
        time: String(policy.schedule.time ?? 0),
        minute: String(policy.schedule.minute ?? 0),
      }
    : DEFAULTS;
  const [values, setValues] = useState<Values>(initial);
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [saving, setSaving] = useState(false);
  const [now, setNow] = useState(() => Math.floor(Date.now() / 1000));
  useEffect(() => {
    const timer = setInterval(() => setNow(Math.floor(Date.now() / 1000)), 30_000);
    return () => clearInterval(timer);
  }, []);

  const scheduleUnchanged =
    policy !== null && (['interval', 'frequency', 'time', 'minute'] as const).every((name) => values[name] === initial[name]);
  const preview = useMemo(() => {
    const schedule = { interval: values.interval, frequency: Number(values.frequency), time: Number(values.time), minute: Number(values.minute) };
    const from = scheduleUnchanged ? (policy?.schedule.next_invocation_at ?? undefined) : undefined;
    return nextRuns(schedule, organization.time_zone, now, 5, from);
  }, [values, now, organization.time_zone, scheduleUnchanged]);

  const errors = fieldErrors(failure);
  const set = (name: FieldName) => (event: Event) => setValues({ ...values, [name]: (event.currentTarget as HTMLInputElement).value });

  const save = async (event: Event) => {
    event.preventDefault();
    setSaving(true);
    setFailure(null);
    const properties = {
      retention: numeric(values.retention),
      schedule: { interval: values.interval, frequency: numeric(values.frequency), time: numeric(values.time), minute: numeric(values.minute) },
    };
    try {
      const path = policy
        ? `/core/v1/disk_backup_policies/${policy.id}`
        : `/core/v1/${target!.type === 'Disk' ? 'disks' : 'virtual_machines'}/${target!.id}/disk_backup_policies`;
      const answer = await api<{ disk_backup_policy: Policy }>(policy ? 'PATCH' : 'POST', path, { body: { properties } });
      go(`/policies/${answer.disk_backup_policy.id}`);
    } catch (error) {
      setFailure(asFailure(error));
      setSaving(false);
    }
  };

  const field = (name: FieldName, label: string, input: preact.JSX.Element, hint?: string) => {
    const messages = errors.byField[name];
    return (
      <div class={`field${messages ? ' invalid' : ''}`}>
        <label for={`policy-${name}`}>{label}</label>
        {input}
        {hint ? <small id={`policy-${name}-hint`}>{hint}</small> : null}
        {messages ? (
          <p class="field-error" id={`policy-${name}-error`}>
            {messages.join('; ')}
          </p>
        ) : null}
      </div>
    );
  };
  const describedBy = (name: FieldName, hint = false) =>
    [errors.byField[name] ? `policy-${name}-error` : '', hint ? `policy-${name}-hint` : ''].filter(Boolean).join(' ') || undefined;
  const numberInput = (name: FieldName, min: number, max: number, hint = false) => (
    <input
      id={`policy-${name}`}
      name={name}
      type="number"
      inputMode="numeric"
      min={min}
      max={max}
      value={values[name]}
      onInput={set(name)}
      aria-invalid={errors.byField[name] ? 'true' : undefined}
      aria-describedby={describedBy(name, hint)}
    />
  );

  const title = policy ? `Edit policy ${policy.id}` : `New policy for ${target!.type === 'Disk' ? 'disk' : 'virtual machine'} ${target!.id}`;
  return (
    <section>
      <ScreenHeading title={policy ? 'Edit policy' : 'New policy'}>{title}</ScreenHeading>
      {failure && failure.status !== 422 ? <ErrorMessage error={failure} /> : null}
      {failure && failure.status === 422 ? (
        <div class="message error" role="alert">
          <p>The policy was not saved: correct the fields marked below.</p>
          {errors.other.length ? <p>{errors.other.join('; ')}</p> : null}
        </div>
      ) : null}
      <div class="editor">
        <form onSubmit={save} noValidate aria-label="Policy">
          {field('retention', 'Backups kept (retention)', numberInput('retention', 1, 1000))}
          {field(
            'interval',
            'Interval',
            <select id="policy-interval" name="interval" value={values.interval} onChange={set('interval')} aria-describedby={describedBy('interval')}>
              <option value="hourly">hourly</option>
              <option value="daily">daily</option>
              <option value="weekly">weekly</option>
              <option value="monthly">monthly</option>
            </select>,
          )}
          {field('frequency', 'Every (how many intervals)', numberInput('frequency', 1, 1000))}
          {field('time', 'Hour (0–23, organization time)', numberInput('time', 0, 23, true), values.interval === 'hourly' ? 'Not used by an hourly schedule' : undefined)}
          {field('minute', 'Minute (0–59)', numberInput('minute', 0, 59))}
          <div class="actions">
            <button type="submit" disabled={saving}>
              {policy ? 'Save changes' : 'Create policy'}
            </button>
            <a href={policy ? href(`/policies/${policy.id}`) : '#/'}>Cancel</a>
          </div>
        </form>
        <aside aria-labelledby="preview-heading" class="preview">
          <h2 id="preview-heading">Next five runs</h2>
          {preview === null ? (
            <p>These values are not a valid schedule.</p>
          ) : (
            <ol aria-live="polite" data-testid="next-runs">
              {preview.map((at) => (
                <li key={at}>
                  {dateTime(at, organization.time_zone)}
                  <small>yours ({viewerTimeZone()}): {dateTime(at)}</small>
                </li>
              ))}
            </ol>
          )}
          <p class="muted">
            In {organization.time_zone}, the organization's time zone.{' '}
            {policy && !scheduleUnchanged ? 'A changed schedule starts a new series at its next matching time.' : ''}
          </p>
        </aside>
      </div>
      {policy ? <DeleteControls policy={policy} /> : null}
    </section>
  );
}

function DeleteControls({ policy }: { policy: Policy }) {
  const [failure, setFailure] = useState<ApiFailure | null>(null);
  const [when, setWhen] = useState('');
  const [done, setDone] = useState<string | null>(null);
  const trash = async () => {
    if (!confirm(`Move policy ${policy.id} to the trash? It can be restored from the trash for two days.`)) return;
    try {
      await api('DELETE', `/core/v1/disk_backup_policies/${policy.id}`);
      go('/trash');
    } catch (error) {
      setFailure(asFailure(error));
    }
  };
  const schedule = async (event: Event) => {
    event.preventDefault();
    setFailure(null);
    const at = Math.floor(new Date(when).getTime() / 1000);
    try {
      const answer = await api<{ disk_backup_policy: Policy }>('DELETE', `/core/v1/disk_backup_policies/${policy.id}/schedule`, {
        body: { timestamp: Number.isFinite(at) ? at : when },
      });
      const moved = answer.disk_backup_policy.auto_move_to_trash_at;
      setDone(moved ? `The policy will move to the trash at ${dateTime(moved)}.` : 'The deletion is scheduled.');
    } catch (error) {
      setFailure(asFailure(error));
    }
  };
  return (
    <section aria-labelledby="delete-heading" class="danger-zone">
      <h2 id="delete-heading">Delete</h2>
      {failure ? <ErrorMessage error={failure} /> : null}
      {done ? <p role="status">{done}</p> : null}
      {policy.auto_move_to_trash_at ? <p>Scheduled to move to the trash at {dateTime(policy.auto_move_to_trash_at)}.</p> : null}
      <button type="button" class="danger" onClick={trash}>
        Move to the trash now
      </button>
      <form onSubmit={schedule} class="inline" noValidate aria-label="Schedule deletion">
        <label for="delete-at">Move to the trash at (your time)</label>
        <input id="delete-at" type="datetime-local" value={when} onInput={(event) => setWhen(event.currentTarget.value)} />
        <button type="submit">Schedule deletion</button>
      </form>
    </section>
  );
}
