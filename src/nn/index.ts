/** Neural-network building blocks with gradients that work (and are fast) on every tfjs backend. */
export { matMul, matMulGrads, dense } from './matmul.js';
export { conv1d } from './conv1d.js';
