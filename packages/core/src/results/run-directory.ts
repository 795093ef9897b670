import { mkdir } from 'node:fs/promises';
import path from 'node:path';

/**
 * Creates a new run folder `<output>/<experiment>_run`, or `_run_1`, `_run_2`, … when earlier
 * runs exist. Creating the folder itself (not recursively) is the claim, so two runs started
 * at once never share a folder.
 */
export async function createRunDirectory(outputDirectory: string, experimentName: string): Promise<string> {
  await mkdir(outputDirectory, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    const name = attempt === 0 ? `${experimentName}_run` : `${experimentName}_run_${attempt}`;
    const candidate = path.resolve(outputDirectory, name);
    try {
      await mkdir(candidate);
      return candidate;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw error;
      }
    }
  }
}
