import type { Command } from './main.ts';
import { bf16Tour } from '../demos/bf16.ts';

export const command: Command = {
  summary: 'the main job (npm start): the computed report',
  usage: 'anchor-oracle report',
  options: {},
  async run() {
    for (const line of bf16Tour()) console.log(line);
    return 0;
  },
};
