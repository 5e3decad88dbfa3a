// A training process for test/train.test.ts: trains the test configuration into argv[2]
// and kills itself with SIGKILL right after step argv[3] (0 = never), like a crash.
import { trainTestSetup } from './train.test.ts';
import { train } from '../train/trainer.ts';

const [out, killAt, resume] = process.argv.slice(2);
const { docs, opts } = trainTestSetup(out);
train(docs, opts, resume === 'resume', {
  quiet: true,
  log: () => {},
  onStep: (step) => {
    if (step === Number(killAt)) process.kill(process.pid, 'SIGKILL');
  },
});
