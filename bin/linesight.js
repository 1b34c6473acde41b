#!/usr/bin/env node
// Entry point of the `linesight` command. The sources are TypeScript; tsx
// compiles them on load so a plain `npm ci` is enough to run the device.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
