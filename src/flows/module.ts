import * as tf from '@tensorflow/tfjs-core';

/**
 * A container of named trainable parameters and child modules, so a whole model can list,
 * save and restore its variables by stable dotted names (`couplings.3.net.0.w`). tfjs's own
 * variable names are process-global and must be unique, so names are kept here instead.
 */
export class Module {
  private readonly params = new Map<string, tf.Variable>();
  private readonly children = new Map<string, Module>();
  private readonly constants: tf.Tensor[] = [];

  /** A fixed tensor (mask, permutation) owned by this module: built in a tidy, freed by dispose(). */
  protected addConstant<T extends tf.Tensor>(make: () => T): T {
    const t = tf.keep(tf.tidy(make));
    this.constants.push(t);
    return t;
  }

  /** Registers a parameter initialised from `initial` (built in a tidy so temporaries are freed). */
  protected addParameter(name: string, initial: tf.Tensor | (() => tf.Tensor), trainable = true): tf.Variable {
    if (this.params.has(name)) throw new Error(`parameter "${name}" already exists`);
    const init = typeof initial === 'function' ? tf.tidy(initial) : initial;
    const v = tf.variable(init, trainable);
    init.dispose();
    this.params.set(name, v);
    return v;
  }

  protected addModule<M extends Module>(name: string, m: M): M {
    if (this.children.has(name)) throw new Error(`module "${name}" already exists`);
    this.children.set(name, m);
    return m;
  }

  /** All parameters, depth first, with dotted names. */
  namedParameters(prefix = ''): [string, tf.Variable][] {
    const out: [string, tf.Variable][] = [];
    for (const [n, v] of this.params) out.push([prefix + n, v]);
    for (const [n, m] of this.children) out.push(...m.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** Trainable variables, for optimisers. */
  trainableVariables(): tf.Variable[] {
    return this.namedParameters().filter(([, v]) => v.trainable).map(([, v]) => v);
  }

  /** Number of scalar parameters. */
  parameterCount(): number {
    return this.namedParameters().reduce((s, [, v]) => s + v.size, 0);
  }

  /** Copies values into parameters by name; every parameter must be present with its shape. */
  loadParameters(values: Map<string, tf.Tensor> | Record<string, tf.Tensor>): void {
    const get = (k: string) => (values instanceof Map ? values.get(k) : values[k]);
    for (const [name, v] of this.namedParameters()) {
      const t = get(name);
      if (!t) throw new Error(`missing parameter "${name}"`);
      if (!tf.util.arraysEqual(t.shape, v.shape)) {
        throw new Error(`parameter "${name}" has shape [${t.shape}] but the model expects [${v.shape}]`);
      }
      v.assign(t);
    }
  }

  /**
   * Non-parameter tensors that exact resumption of training needs (e.g. the inverse an
   * Invertible1x1Conv keeps between steps), depth first, with dotted names. Checkpoints store them
   * beside the parameters; shipped models do not.
   */
  namedState(prefix = ''): [string, tf.Tensor][] {
    const out = this.ownState().map(([n, t]): [string, tf.Tensor] => [prefix + n, t]);
    for (const [n, m] of this.children) out.push(...m.namedState(`${prefix}${n}.`));
    return out;
  }

  /** Restores what namedState() saved; a module whose entries are absent starts its state afresh. */
  loadState(values: Map<string, tf.Tensor>, prefix = ''): void {
    this.restoreOwnState((name) => values.get(prefix + name));
    for (const [n, m] of this.children) m.loadState(values, `${prefix}${n}.`);
  }

  /** This module's own resumable state (none by default). */
  protected ownState(): [string, tf.Tensor][] {
    return [];
  }

  protected restoreOwnState(_get: (name: string) => tf.Tensor | undefined): void {}

  /** Frees parameters and constants of this module and its children. */
  dispose(): void {
    for (const v of this.params.values()) v.dispose();
    for (const c of this.constants) c.dispose();
    for (const m of this.children.values()) m.dispose();
  }
}
