// Every op module registers itself on import; this is the one list of them.
import './bf16.ops.ts';
import './rope.ops.ts';
import './attention.ops.ts';
import './model.ops.ts';
import './drift.ops.ts';

export * from './registry.ts';
