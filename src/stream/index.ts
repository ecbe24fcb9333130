/**
 * Streaming synthesis, the isomorphic part: the wire protocol and the chunk planner. The tensor
 * code that synthesises a planned chunk is in ./chunk-synth.js (imported separately, so a browser
 * player that only speaks the protocol does not pull in TensorFlow.js).
 */
export * from './protocol.js';
export * from './planner.js';
