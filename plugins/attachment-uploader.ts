import fp from 'fastify-plugin';
import { createAttachmentUploader } from '../src/attachments/uploader.js';

declare module 'fastify' {
  interface FastifyInstance {
    attachments: ReturnType<typeof createAttachmentUploader>;
  }
}

/** Fetches, checks and uploads the files and images of a request (its own guarded dispatcher). */
export default fp(
  async (app) => {
    const uploader = createAttachmentUploader(app.config, app.upstream.dialect);
    app.decorate('attachments', uploader);
    app.addHook('onClose', () => uploader.close());
  },
  { name: 'attachment-uploader', dependencies: ['config', 'upstream-client'] },
);
