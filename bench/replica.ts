// The benchmark's replica: the product's replica plus the whole-JSON comparison store under /blob, on the same
// process, Redis and nginx, so the two are measured alike. The product image never contains this.
import { configOrExit, serve } from '../services/serve.ts'
import blobComparison from './blob-comparison.ts'

const config = configOrExit()
await serve(config, async app => {
  await app.register(blobComparison, { prefix: '/blob', config: config.session })
})
