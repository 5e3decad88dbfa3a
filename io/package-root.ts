// The package's root folder, where its shipped assets (checkpoints/) live: the checkout when
// run from the sources, the installed package's folder when run from its compiled dist/.
import { basename, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const above = dirname(dirname(fileURLToPath(import.meta.url))); // io/.. (sources) or dist/io/.. = dist (installed)
export const packageRoot: string = basename(above) === 'dist' ? dirname(above) : above;
