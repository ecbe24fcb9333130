// The AudioWorkletGlobalScope names lib.dom lacks: only what client/worklet.ts uses.
declare abstract class AudioWorkletProcessor {
  readonly port: MessagePort;
  constructor(options?: AudioWorkletNodeOptions);
  abstract process(inputs: Float32Array[][], outputs: Float32Array[][], parameters: Record<string, Float32Array>): boolean;
}
declare function registerProcessor(name: string, ctor: new (options?: AudioWorkletNodeOptions) => AudioWorkletProcessor): void;
/** The AudioContext's rate, a global inside the worklet scope. */
declare const sampleRate: number;
