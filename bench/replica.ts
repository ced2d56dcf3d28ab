// The benchmark's replica: the product's replica plus the whole-JSON comparison store under /blob and the
// one-round-trip floor under /trip, on the same process, Redis and nginx, so all are measured alike. The product
// image never contains this.
import { configOrExit, serve } from '../services/serve.ts'
import blobComparison from './blob-comparison.ts'
import oneRoundTrip from './one-round-trip.ts'

await serve(configOrExit(), async app => {
  await app.register(blobComparison, { prefix: '/blob' })
  await app.register(oneRoundTrip, { prefix: '/trip' })
})
