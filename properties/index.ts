// Every fast-check property and arbitrary for other people's suites (anchor-oracle/properties).
export * from './bf16.ts';
export * from './layouts.ts';
export * from './rope.ts';
export * from './attention.ts';
export * from './packing.ts';
