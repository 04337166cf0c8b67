// jsforce, unmodified, against the Salesforce sandbox: what a Node user of the org would do.
//
// Usage: node jsforce_peer.js CONFIG.json  (loginUrl, username, password + security token,
// the ids and names the Python side picked). Trust for the sandbox's private CA comes from
// NODE_EXTRA_CA_CERTS. Prints one JSON document: {"steps": {name: {"result": ...} |
// {"error": ...}}}; the pytest side (test_node_peers.py) checks each result against the org as
// simple-salesforce reads it. A step that throws is reported and the others still run.
'use strict';

const fs = require('fs');
const jsforce = require('jsforce');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const steps = {};

async function step(name, fn) {
  try {
    steps[name] = { result: await fn() };
  } catch (err) {
    steps[name] = {
      error: `${err.name}: ${err.message}`,
      errorCode: err.errorCode,
      stack: String(err.stack || '').split('\n').slice(0, 8).join('\n'),
    };
  }
}

function streamRecords(recordStream) {
  // bulk2.query answers a record stream; collect it.
  return new Promise((resolve, reject) => {
    const rows = [];
    recordStream.on('record', (r) => rows.push(r));
    recordStream.on('end', () => resolve(rows));
    recordStream.on('error', reject);
  });
}

async function main() {
  // A real user's setup: the login URL, the API version, username and password + token.
  const conn = new jsforce.Connection({ loginUrl: config.loginUrl, version: config.version });
  let loggedIn = false;
  await step('login', async () => {
    const info = await conn.login(config.username, config.password);
    loggedIn = true;
    return { userId: info.id, organizationId: info.organizationId, instanceUrl: conn.instanceUrl };
  });
  if (!loggedIn) return;

  await step('identity', async () => {
    const identity = await conn.identity();
    return { user_id: identity.user_id, organization_id: identity.organization_id,
      username: identity.username };
  });

  for (const sobject of ['Account', 'Opportunity']) {
    await step(`describe_${sobject}`, async () => {
      const d = await conn.sobject(sobject).describe();
      return {
        name: d.name,
        keyPrefix: d.keyPrefix,
        queryable: d.queryable,
        updateable: d.updateable,
        fields: d.fields.map((f) => ({ name: f.name, type: f.type, updateable: f.updateable,
          nillable: f.nillable, length: f.length,
          picklistValues: (f.picklistValues || []).map((p) => p.value) })),
      };
    });
  }

  await step('describe_global', async () => {
    const g = await conn.describeGlobal();
    return { sobjects: g.sobjects.map((s) => s.name) };
  });

  // SOQL with autoFetch: jsforce follows nextRecordsUrl itself; small batches → several pages.
  await step('query_autofetch', async () => {
    let fetches = 0;
    const records = [];
    const query = conn
      .query('SELECT Id, Name, AnnualRevenue, CreatedDate, OwnerId, Owner.Name FROM Account ORDER BY Id')
      .on('fetch', () => { fetches += 1; })
      .on('record', (r) => records.push(r));
    const result = await query.run({
      autoFetch: true,
      maxFetch: 100000,
      headers: { 'Sforce-Query-Options': 'batchSize=200' },
    });
    return {
      fetches,
      totalSize: result.totalSize,
      done: result.done,
      streamed: records.length,
      records: result.records.map((r) => ({ Id: r.Id, Name: r.Name,
        AnnualRevenue: r.AnnualRevenue, CreatedDate: r.CreatedDate,
        OwnerId: r.OwnerId, OwnerName: r.Owner ? r.Owner.Name : null,
        OwnerType: r.Owner ? r.Owner.attributes.type : null, type: r.attributes.type })),
    };
  });

  // The same by hand: query, then queryMore with the locator until done.
  await step('query_more', async () => {
    const pages = [];
    const opts = { headers: { 'Sforce-Query-Options': 'batchSize=200' } };
    let page = await conn.query('SELECT Id FROM Opportunity', opts);
    pages.push({ size: page.records.length, done: page.done, totalSize: page.totalSize });
    const ids = page.records.map((r) => r.Id);
    while (!page.done) {
      page = await conn.queryMore(page.nextRecordsUrl, opts);
      pages.push({ size: page.records.length, done: page.done, totalSize: page.totalSize });
      ids.push(...page.records.map((r) => r.Id));
      if (pages.length > 100) throw new Error('queryMore did not finish in 100 pages');
    }
    return { pages, ids };
  });

  // Rows in the recycle bin too (queryAll), paged.
  await step('query_all', async () => {
    const result = await conn.query('SELECT Id, IsDeleted FROM Contact')
      .run({ autoFetch: true, maxFetch: 100000, scanAll: true,
        headers: { 'Sforce-Query-Options': 'batchSize=500' } });
    return { totalSize: result.totalSize,
      records: result.records.map((r) => ({ Id: r.Id, IsDeleted: r.IsDeleted })) };
  });

  await step('retrieve', async () => {
    const r = await conn.sobject('Account').retrieve(config.accountId);
    return r;
  });

  await step('retrieve_many', async () => {
    const rs = await conn.sobject('Account').retrieve(config.accountIds, { fields: ['Id', 'Name'] });
    return rs;
  });

  let createdId = null;
  await step('create', async () => {
    const res = await conn.sobject('Account').create({
      Name: config.newAccountName, Industry: 'Biotechnology', AnnualRevenue: 1234567,
    });
    createdId = res.id;
    return res;
  });

  await step('update', async () => {
    const res = await conn.sobject('Account').update({
      Id: config.accountId, Description: config.newDescription, NumberOfEmployees: 4321,
    });
    return res;
  });

  await step('update_invalid', async () => {
    // A real org refuses an unknown field: the error must surface as jsforce reports it.
    try {
      await conn.sobject('Account').update({ Id: config.accountId, NoSuchField__c: 'x' });
      return { threw: false };
    } catch (err) {
      return { threw: true, name: err.name, errorCode: err.errorCode, message: err.message };
    }
  });

  if (createdId) {
    await step('retrieve_created', async () => conn.sobject('Account').retrieve(createdId));
  }

  // Bulk API 2.0: a query job (CSV results, paged by Sforce-Locator) and an ingest job.
  conn.bulk2.pollInterval = 200;
  conn.bulk2.pollTimeout = 60000;
  await step('bulk2_query', async () => {
    const rows = await streamRecords(
      await conn.bulk2.query('SELECT Id, Name, AnnualRevenue FROM Account'),
    );
    return { rows };
  });

  await step('bulk2_update', async () => {
    const res = await conn.bulk2.loadAndWaitForResults({
      object: 'Opportunity',
      operation: 'update',
      input: config.opportunityIds.map((id, i) => ({ Id: id, Description: `${config.bulkTag} ${i}` })),
    });
    return res;
  });

  await step('bulk2_upsert', async () => {
    const res = await conn.bulk2.loadAndWaitForResults({
      object: 'Account',
      operation: 'upsert',
      externalIdFieldName: 'Id',
      input: config.accountIds.slice(1).map((id, i) => ({ Id: id, Name: `${config.bulkUpsertName} ${i}` })),
    });
    return res;
  });

  // logout() ends the session: a connection holding only its token is then refused.
  await step('logout', async () => {
    const { instanceUrl, accessToken } = conn;
    const before = await new jsforce.Connection({ instanceUrl, accessToken, version: config.version })
      .query('SELECT Id FROM Account LIMIT 1');
    await conn.logout();
    try {
      await new jsforce.Connection({ instanceUrl, accessToken, version: config.version })
        .query('SELECT Id FROM Account LIMIT 1');
      return { before: before.totalSize, after: 'accepted' };
    } catch (err) {
      return { before: before.totalSize, after: err.errorCode || err.name };
    }
  });
}

main()
  .catch((err) => { steps.main = { error: `${err.name}: ${err.message}`, stack: err.stack }; })
  .finally(() => { process.stdout.write(`${JSON.stringify({ steps })}\n`); });
