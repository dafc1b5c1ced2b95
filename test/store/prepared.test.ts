import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, test } from 'node:test';
import { prepareQuery } from '../../src/store/prepared.js';
import { writeTransaction } from '../../src/store/write-transaction.js';
import { forEachEngine, TestService, type TestOrganization } from '../support/harness.js';

/** Prepared queries (run without Kysely's executor on SQLite) never see another caller's uncommitted writes. */
forEachEngine('prepared queries', (engine) => {
  let service: TestService;
  let org: TestOrganization;
  before(async () => {
    service = await TestService.start(engine);
    org = await service.createOrganization('Original');
  });
  after(() => service.stop());

  const nameOf = () => {
    const db = service.runtime.store.db;
    return prepareQuery(db, ['id'], ({ id }: { id: string }) => db.selectFrom('organizations').select('name').where('id', '=', id));
  };

  test('a prepared query answers what is committed', async () => {
    assert.deepEqual(await nameOf()({ id: org.id }), [{ name: 'Original' }]);
  });

  test('a prepared query issued while another transaction is open waits for it and sees only what it committed', async () => {
    const { db, engine: storeEngine } = service.runtime.store;
    const query = nameOf();
    let pending: Promise<{ name: string }[]> | undefined;
    await assert.rejects(
      writeTransaction(db, storeEngine, async (trx) => {
        await trx.updateTable('organizations').set({ name: 'Uncommitted' }).where('id', '=', org.id).execute();
        pending = query({ id: org.id });
        await sleep(20);
        throw new Error('roll back');
      }),
      /roll back/,
    );
    assert.deepEqual(await pending, [{ name: 'Original' }]);
  });
});
