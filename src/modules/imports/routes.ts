import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { errorResponses } from '../../http/errors.ts';
import { ImportResultSchema } from '../contacts/schemas.ts';
import type { ImportJobsService } from './service.ts';

const stamp = (description: string) => Type.Union([Type.String(), Type.Null()], { description });

export const ImportJobSchema = Type.Object({
  id: Type.String({ description: 'imp_…' }),
  key_id: Type.String(),
  status: Type.Union([Type.Literal('queued'), Type.Literal('running'), Type.Literal('completed'), Type.Literal('failed')]),
  content_type: Type.String(),
  bytes: Type.Integer({ description: 'Size of the stored body.' }),
  rows_total: Type.Integer({ description: 'Rows the body holds (counted when it was received).' }),
  rows_read: Type.Integer({ description: 'Rows read and checked so far.' }),
  created: Type.Integer({ description: 'Contacts created; set when the merge has committed (it is one transaction at the end).' }),
  updated: Type.Integer({ description: 'Contacts updated; set when the merge has committed.' }),
  failed: Type.Integer({ description: 'Rows failed so far (duplicates are known once merged).' }),
  attempts: Type.Integer({ description: 'Worker rounds that took the job (more than 1 after a crash or a passing failure: each restarts from the first row).' }),
  result: Type.Union([ImportResultSchema, Type.Null()], { description: 'When completed: exactly what the synchronous import answers with 207.' }),
  error: Type.Union([Type.Object({ code: Type.String(), message: Type.String() }), Type.Null()], { description: 'When failed: why.' }),
  created_at: Type.String(),
  started_at: stamp('When a worker first took the job.'),
  finished_at: stamp('When it completed or failed.'),
  updated_at: Type.String(),
});

export const importJobsRoutes: FastifyPluginAsyncTypebox<{ imports: ImportJobsService }> = async (app, { imports }) => {
  app.get(
    '/v1/bulk/imports/:id',
    {
      schema: {
        tags: ['contacts'],
        summary: 'An import job (POST /v1/bulk/contacts/import?async=true): its progress, and its result once completed',
        description: 'Only the key that started it sees it (another key gets a 404); an admin key sees any.',
        params: Type.Object({ id: Type.String({ maxLength: 64 }) }),
        response: { 200: ImportJobSchema, ...errorResponses(401, 404) },
      },
    },
    async (request) => imports.get(request.principal, request.params.id),
  );
};
