// The LLaMA-family model reference: config, parameters, forward, backward, precision
// policies and the backend interface (one import for users of the model).
export * from './config.ts';
export * from './params.ts';
export * from './precision.ts';
export * from './forward.ts';
export * from './backward.ts';
export * from './backend.ts';
export * as layers from './layers.ts';
