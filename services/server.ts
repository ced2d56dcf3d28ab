// The replica's entry point: read config, listen, and stop gracefully on SIGTERM/SIGINT.
import { configOrExit, serve } from './serve.ts'

await serve(configOrExit())
