// HubSpot's official Node client (@hubspot/api-client), unmodified, against the HubSpot sandbox.
//
// Usage: node hubspot_peer.js CONFIG.json  (basePath, accessToken, the ids the Python side
// picked). Prints one JSON document: {"steps": {name: {"result": ..., "conformance": [...]} |
// {"error": ...}}}; the pytest side (test_node_peers.py) checks each result against the portal as
// hubspot-api-client (Python) reads it.
//
// The client's ObjectSerializer turns each answer into its generated model classes: `Date`
// attributes through `new Date(...)` (a bad date becomes an Invalid Date, not an error), enums
// and primitives passed through as they come. So every answer is also checked against the
// client's own declarations (the models' .d.ts next to the .js): required attributes present,
// dates valid, enum values among the declared ones, primitives of the declared type. Each
// violation is listed in the step's `conformance`.
'use strict';

const fs = require('fs');
const path = require('path');
const hubspot = require('@hubspot/api-client');

const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const steps = {};
const CODEGEN = path.join(path.dirname(require.resolve('@hubspot/api-client')), 'codegen', 'crm');

// -- conformance to the client's declared models ----------------------------------------------

const declared = new Map(); // models dir + class → {required: Set, enums: {attr: values}}

// Where the client's declaration and the live API part ways, the wire wins: the attribute, and
// the JS type HubSpot really sends. MultiAssociatedObjectWithLabel.toObjectId is declared a
// string since the client's v11 but "the api calls still return numbers"
// (github.com/HubSpot/hubspot-api-nodejs/issues/552).
const LIVE_WIRE_TYPES = new Map([['MultiAssociatedObjectWithLabel.toObjectId', 'number']]);
// Required by the client's declaration, absent from every live answer: a 207's error entries
// carry {status, category, [subCategory,] message, context} and no `errors` / `links`
// (developers.hubspot.com/docs/api-reference/error-handling, "Multi-status errors";
// github.com/HubSpot/hubspot-api-ruby/issues/403; the sources in the sandbox's
// messages.standard_error).
const LIVE_WIRE_ABSENT = new Set(['StandardError.errors', 'StandardError.links']);

function declaration(modelsDir, className) {
  const key = `${modelsDir}/${className}`;
  if (declared.has(key)) return declared.get(key);
  const dts = fs.readFileSync(path.join(modelsDir, `${className}.d.ts`), 'utf8');
  const body = dts.slice(dts.indexOf(`export declare class ${className} `));
  const required = new Set();
  for (const m of body.matchAll(/^ {4}'(\w+)'(\?)?: /gm)) {
    if (!m[2]) required.add(m[1]);
  }
  const module = require(path.join(modelsDir, `${className}.js`));
  const found = { required, module };
  declared.set(key, found);
  return found;
}

function checkValue(value, type, where, modelsDir, problems) {
  if (value === undefined) return;
  if (type.endsWith(' | null')) {
    if (value === null) return;
    type = type.slice(0, -' | null'.length);
  }
  if (value === null) {
    problems.push(`${where}: null where the client declares ${type}`);
    return;
  }
  if (type.startsWith('Array<')) {
    if (!Array.isArray(value)) {
      problems.push(`${where}: not an array`);
      return;
    }
    const inner = type.slice('Array<'.length, -1);
    value.forEach((v, i) => checkValue(v, inner, `${where}[${i}]`, modelsDir, problems));
    return;
  }
  if (type.startsWith('{ [key: string]: ')) {
    const inner = type.slice('{ [key: string]: '.length, -'; }'.length);
    for (const [k, v] of Object.entries(value)) {
      checkValue(v, inner, `${where}.${k}`, modelsDir, problems);
    }
    return;
  }
  if (type === 'Date') {
    if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
      problems.push(`${where}: not a valid date (${String(value)})`);
    }
    return;
  }
  if (['string', 'number', 'boolean'].includes(type)) {
    if (typeof value !== type) problems.push(`${where}: ${typeof value} where the client declares ${type}`);
    return;
  }
  if (type === 'any') return;
  checkModel(value, modelsDir, problems, where);
}

function checkModel(instance, modelsDir, problems, where = '') {
  const ctor = instance && instance.constructor;
  if (!ctor || typeof ctor.getAttributeTypeMap !== 'function') {
    problems.push(`${where || '(answer)'}: not deserialized into a model (${typeof instance})`);
    return problems;
  }
  const { required, module } = declaration(modelsDir, ctor.name);
  for (const attr of ctor.getAttributeTypeMap()) {
    const at = `${where}${where ? '.' : ''}${attr.name}`;
    const value = instance[attr.name];
    if (value === undefined && LIVE_WIRE_ABSENT.has(`${ctor.name}.${attr.name}`)) continue;
    if (required.has(attr.name) && value === undefined) {
      problems.push(`${at}: required by the client's ${ctor.name}, missing`);
      continue;
    }
    const enumValues = module[attr.type];
    if (enumValues && value !== undefined && value !== null) {
      if (!Object.values(enumValues).includes(value)) {
        problems.push(`${at}: ${JSON.stringify(value)} is not one of ${attr.type} ${JSON.stringify(Object.values(enumValues))}`);
      }
      continue;
    }
    if (typeof value === LIVE_WIRE_TYPES.get(`${ctor.name}.${attr.name}`)) continue;
    if (value === null && !required.has(attr.name)) {
      // JSON null for an optional attribute: HubSpot sends e.g. "label": null on unlabeled
      // associations; the generated `label?: string` reads it as absent.
      continue;
    }
    checkValue(value, attr.type, at, modelsDir, problems);
  }
  return problems;
}

function models(api) {
  return path.join(CODEGEN, ...api.split('/'), 'models');
}

async function step(name, fn) {
  // fn answers {result, answers: [[model instance, codegen API of its models], ...]}.
  try {
    const { result, answers } = await fn();
    const conformance = [];
    for (const [answer, api] of answers) checkModel(answer, models(api), conformance);
    steps[name] = { result, conformance };
  } catch (err) {
    steps[name] = {
      error: `${err.name}: ${err.message}`,
      code: err.code,
      body: err.body,
      stack: String(err.stack || '').split('\n').slice(0, 8).join('\n'),
    };
  }
}

function simple(obj) {
  return {
    id: obj.id,
    properties: obj.properties,
    createdAt: obj.createdAt,
    updatedAt: obj.updatedAt,
    archived: obj.archived,
  };
}

async function main() {
  const client = new hubspot.Client({
    accessToken: config.accessToken,
    basePath: config.basePath,
    numberOfApiCallRetries: 5, // retries 429 / 5xx, as a careful user configures it
  });

  await step('companies_get_page', async () => {
    const answers = [];
    const ids = [];
    let after;
    let pages = 0;
    do {
      const page = await client.crm.companies.basicApi.getPage(
        100, after, ['name', 'domain', 'industry', 'annualrevenue', 'hs_lastmodifieddate'],
      );
      answers.push([page, 'companies']);
      pages += 1;
      ids.push(...page.results.map((c) => c.id));
      after = page.paging && page.paging.next ? page.paging.next.after : undefined;
      if (pages > 200) throw new Error('companies paging did not end in 200 pages');
    } while (after);
    const first = answers[0][0].results[0];
    return { result: { pages, ids, first: simple(first) }, answers };
  });

  await step('deals_search', async () => {
    const request = {
      filterGroups: [{ filters: [
        { propertyName: 'amount', operator: 'GTE', value: String(config.minAmount) },
        { propertyName: 'pipeline', operator: 'EQ', value: 'default' },
      ] }],
      sorts: [{ propertyName: 'amount', direction: 'DESCENDING' }],
      properties: ['dealname', 'amount', 'dealstage', 'closedate', 'pipeline'],
      limit: 100,
    };
    const answers = [];
    const deals = [];
    let total;
    let after;
    let pages = 0;
    do {
      const page = await client.crm.deals.searchApi.doSearch({ ...request, after });
      answers.push([page, 'deals']);
      total = page.total;
      pages += 1;
      deals.push(...page.results.map(simple));
      after = page.paging && page.paging.next ? page.paging.next.after : undefined;
      if (pages > 100) throw new Error('search paging did not end in 100 pages');
    } while (after);
    return { result: { total, pages, deals }, answers };
  });

  // A burst of searches: past HubSpot's per-second search limit, answered 429 with the body the
  // client recognises ("You have reached your secondly limit."), retried by the client itself.
  await step('search_burst', async () => {
    const request = { filterGroups: [{ filters: [
      { propertyName: 'pipeline', operator: 'EQ', value: 'default' }] }], limit: 1 };
    const answers = await Promise.all(
      Array.from({ length: config.burst }, () => client.crm.deals.searchApi.doSearch(request)),
    );
    return { result: answers.map((a) => a.total), answers: answers.map((a) => [a, 'deals']) };
  });

  await step('contacts_batch_read', async () => {
    const answer = await client.crm.contacts.batchApi.read({
      inputs: [...config.contactIds, config.missingContactId].map((id) => ({ id })),
      properties: ['email', 'firstname', 'lastname', 'lifecyclestage'],
      propertiesWithHistory: [],
    });
    return {
      result: {
        status: answer.status,
        results: answer.results.map(simple),
        numErrors: answer.numErrors,
        errors: answer.errors,
        startedAt: answer.startedAt,
        completedAt: answer.completedAt,
      },
      answers: [[answer, 'contacts']],
    };
  });

  await step('company_update', async () => {
    const answer = await client.crm.companies.basicApi.update(config.companyId, {
      properties: { description: config.newDescription, numberofemployees: '77' },
    });
    return { result: simple(answer), answers: [[answer, 'companies']] };
  });

  await step('deal_update_bad_property', async () => {
    try {
      await client.crm.deals.basicApi.update(config.dealId, {
        properties: { no_such_property_xyz: 'x' },
      });
      return { result: { threw: false }, answers: [] };
    } catch (err) {
      return { result: { threw: true, code: err.code, body: err.body }, answers: [] };
    }
  });

  await step('associations_v4_get_page', async () => {
    const answers = [];
    const to = [];
    let after;
    do {
      const page = await client.crm.associations.v4.basicApi.getPage(
        'companies', config.companyId, 'contacts', after, 2,
      );
      answers.push([page, 'associations/v4']);
      to.push(...page.results.map((r) => ({ toObjectId: String(r.toObjectId),
        associationTypes: r.associationTypes.map((t) => ({ category: t.category, typeId: t.typeId,
          label: t.label })) })));
      after = page.paging && page.paging.next ? page.paging.next.after : undefined;
      if (answers.length > 100) throw new Error('association paging did not end');
    } while (after);
    return { result: { pages: answers.length, to }, answers };
  });

  await step('associations_v4_batch', async () => {
    const answer = await client.crm.associations.v4.batchApi.getPage('companies', 'contacts', {
      inputs: config.companyIds.map((id) => ({ id })),
    });
    return {
      result: {
        status: answer.status,
        results: answer.results.map((r) => ({ from: r._from ? r._from.id : undefined,
          to: r.to.map((t) => String(t.toObjectId)) })),
      },
      answers: [[answer, 'associations/v4']],
    };
  });

  await step('association_labels', async () => {
    const answer = await client.crm.associations.v4.schema.definitionsApi.getAll('contacts', 'companies');
    return {
      result: answer.results.map((t) => ({ category: t.category, typeId: t.typeId, label: t.label })),
      answers: [[answer, 'associations/v4/schema']],
    };
  });

  await step('associate_default_batch', async () => {
    const answer = await client.crm.associations.v4.batchApi.createDefault('contacts', 'companies', {
      inputs: config.newAssociations.map(([from, to]) => ({ _from: { id: from }, to: { id: to } })),
    });
    return {
      result: {
        status: answer.status,
        results: answer.results.map((r) => ({ from: r._from.id, to: r.to.id,
          typeId: r.associationSpec.associationTypeId })),
      },
      answers: [[answer, 'associations/v4']],
    };
  });

  await step('properties_get_all', async () => {
    const answer = await client.crm.properties.coreApi.getAll('deals');
    return {
      result: answer.results.map((p) => ({ name: p.name, type: p.type, fieldType: p.fieldType,
        groupName: p.groupName, options: p.options.map((o) => o.value),
        optionLabels: p.options.map((o) => o.label) })),
      answers: [[answer, 'properties']],
    };
  });

  await step('pipelines_get_all', async () => {
    const answer = await client.crm.pipelines.pipelinesApi.getAll('deals');
    return {
      result: answer.results.map((p) => ({ id: p.id, label: p.label, displayOrder: p.displayOrder,
        stages: p.stages.map((s) => ({ id: s.id, label: s.label, displayOrder: s.displayOrder,
          metadata: s.metadata })) })),
      answers: [[answer, 'pipelines']],
    };
  });
}

main()
  .catch((err) => { steps.main = { error: `${err.name}: ${err.message}`, stack: err.stack }; })
  .finally(() => { process.stdout.write(`${JSON.stringify({ steps })}\n`); });
