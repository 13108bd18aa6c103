/**
 * Runs every task example of the README (`<!-- example: TASK MODEL -->` followed by a request
 * and a response JSON block) and checks the response.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { pipeline } from '../../ts/index.js';
import type { TaskId } from '../../ts/types/tasks.js';
import { assertGolden } from './goldens.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const EXAMPLE = /<!-- example: (\S+) (\S+) -->\s*```json\n([\s\S]*?)```\s*```json\n([\s\S]*?)```/g;

const examples = [...readme.matchAll(EXAMPLE)].map((m) => ({
  task: m[1] as TaskId,
  model: m[2]!.startsWith('test/') ? path.join(root, m[2]!) : m[2]!,
  request: JSON.parse(m[3]!) as { inputs: unknown; parameters?: unknown },
  response: JSON.parse(m[4]!) as unknown,
}));

test('the README has task examples', (t) => {
  t.true(examples.length >= 4);
});

for (const [i, ex] of examples.entries()) {
  test(`README example ${i + 1}: ${ex.task}`, async (t) => {
    const pipe = (await pipeline(ex.task, ex.model)) as unknown as ((
      i: unknown,
      p?: unknown,
    ) => Promise<unknown>) & {
      dispose(): Promise<void>;
    };
    try {
      // README numbers are rounded to 6 significant digits.
      assertGolden(t, await pipe(ex.request.inputs, ex.request.parameters), ex.response, 1e-4);
    } finally {
      await pipe.dispose();
    }
  });
}
