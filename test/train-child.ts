// A training process for test/train.test.ts and test/hostile-train.test.ts: trains the test
// configuration into argv[2] and kills itself with SIGKILL, like a crash:
//   argv[3]  right after optimizer step N (0 = never)
//   argv[4]  "resume" to resume from the run folder
//   argv[5]  STEP:STAGE (optional): inside the checkpoint of step STEP, after STAGE
//            (model | optimizer | trainer | renamed | latest, see train/checkpoint.ts)
// An error (a full disk, say) is one line on stderr and exit 2, as the CLI does.
import { trainTestSetup } from './train.test.ts';
import { train } from '../train/trainer.ts';

const [out, killAt, resume, killIn] = process.argv.slice(2);
const [killStep, killStage] = (killIn ?? '').split(':');
const { docs, opts } = trainTestSetup(out);
try {
  train(docs, opts, resume === 'resume', {
    quiet: true,
    log: () => {},
    onStep: (step) => {
      if (step === Number(killAt)) process.kill(process.pid, 'SIGKILL');
    },
    onCheckpoint: (stage, step) => {
      if (step === Number(killStep) && stage === killStage) process.kill(process.pid, 'SIGKILL');
    },
  });
} catch (e) {
  console.error(`train-child: ${(e as Error).message}`);
  process.exitCode = 2;
}
