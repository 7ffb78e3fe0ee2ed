/**
 * The config loader: gatehouse.yaml files made by the real `gatehouse init`, loaded with
 * loadConfig (YAML parse, schema, path resolution) from a scratch file. Only GatehouseError
 * (GH_CONFIG_INVALID) may come out.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { GatehouseError } from '../../src/core/errors.js';
import type { FuzzTarget } from '../lib/engine.js';
import type { FuzzInput } from '../lib/input.js';
import { expectTypedError } from '../lib/oracle.js';

const SCRATCH_DIR = join(tmpdir(), `gatehouse-fuzz-config-${process.pid}`);

/** The config loader target. */
export const configTarget: FuzzTarget = {
  name: 'config',
  summary: 'gatehouse.yaml: YAML parsing, schema validation, path resolution',
  hints: {
    focus: 'c',
    dictionary: [
      '\n',
      ': ',
      '- ',
      '  ',
      '&a ',
      '*a',
      '<<: *a',
      '!!binary ',
      '!!js/function ',
      '{',
      '}',
      '[',
      ']',
      '"',
      "'",
      '|',
      '>',
      '#',
      '---\n',
      '...\n',
      '~',
      'null',
      '1e999',
      '-1',
      '0x7fffffffffffffff',
      '99999',
      '__proto__: {}',
      'constructor: {}',
      '? ',
      '%YAML 1.2\n',
      '\t',
      '\0',
    ].map((s) => Buffer.from(s, 'utf8')),
  },
  run: (input) => Promise.resolve(runConfig(input)),
};

function runConfig(input: FuzzInput): void {
  mkdirSync(SCRATCH_DIR, { recursive: true });
  const path = join(SCRATCH_DIR, 'gatehouse.yaml');
  writeFileSync(path, Buffer.concat(input.segments.map((s) => s.data)));
  // The YAML parser warns (process.emitWarning) about odd input; thousands of those are noise here.
  const emitWarning = Object.getOwnPropertyDescriptor(process, 'emitWarning');
  process.emitWarning = () => undefined;
  try {
    const config = loadConfig(path);
    JSON.stringify(config);
  } catch (err) {
    expectTypedError(err, [GatehouseError], 'loadConfig');
  } finally {
    if (emitWarning !== undefined) Object.defineProperty(process, 'emitWarning', emitWarning);
  }
}
