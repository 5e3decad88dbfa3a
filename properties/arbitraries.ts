// The fast-check arbitraries alone (anchor-oracle/arbitraries): bf16 bit patterns and values,
// document layouts, mask cases, RoPE problems and configurations, attention problems, documents
// and packing options.
export { bf16Bits, f32BitsWeighted, f64Weighted } from './bf16.ts';
export { bf16ActivationArb, docLayoutArb, maskCaseArb, ropeCaseArb, variantArb } from './layouts.ts';
export { ropeConfigArb, ropeVectorArb } from './rope.ts';
export { attentionCaseArb } from './attention.ts';
export { documentsArb, packOptionsArb } from './packing.ts';
