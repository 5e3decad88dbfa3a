// Every op module registers itself on import; this is the one list of them.
import './bf16.ops.ts';

export * from './registry.ts';
