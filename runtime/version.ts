/** The linesight version, from package.json (reported in MQTT status and health). */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
export const LINESIGHT_VERSION: string = (require('../package.json') as { version: string }).version;
