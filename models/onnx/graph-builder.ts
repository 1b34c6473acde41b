/**
 * A small builder for ONNX graphs. Every graph linesight runs (backbone
 * features, scoring head, gradient graphs) is emitted through it, so naming,
 * initializers and serialisation live in one place. The protobuf messages come
 * from `onnx-proto`; this file only adds the bookkeeping no library offers for
 * building graphs programmatically from TypeScript.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const DataType = onnx.TensorProto.DataType;
const AttrType = onnx.AttributeProto.AttributeType;

/** Attribute values: integers and integer arrays map to INT/INTS, strings to
 * STRING; wrap floats as `{ f: x }` / `{ floats: [...] }` so 1.0 stays a float. */
export type AttrValue = number | number[] | string | { f: number } | { floats: number[] };
export type Attrs = Record<string, AttrValue>;
export type Dim = number | string;
export type ElemType = 'float' | 'int64' | 'int32' | 'bool';

const elemTypes: Record<ElemType, number> = {
  float: DataType.FLOAT,
  int64: DataType.INT64,
  int32: DataType.INT32,
  bool: DataType.BOOL,
};

export const DEFAULT_OPSET = 17;

function attribute(name: string, value: AttrValue) {
  if (typeof value === 'string') {
    return onnx.AttributeProto.create({ name, type: AttrType.STRING, s: new TextEncoder().encode(value) });
  }
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) throw new Error(`attribute ${name}: wrap float values as { f: ${value} }`);
    return onnx.AttributeProto.create({ name, type: AttrType.INT, i: value });
  }
  if (Array.isArray(value)) {
    return onnx.AttributeProto.create({ name, type: AttrType.INTS, ints: value });
  }
  if ('f' in value) return onnx.AttributeProto.create({ name, type: AttrType.FLOAT, f: value.f });
  return onnx.AttributeProto.create({ name, type: AttrType.FLOATS, floats: value.floats });
}

function valueInfo(name: string, dims: Dim[], type: ElemType) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType: elemTypes[type],
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

export class GraphBuilder {
  private readonly nodes: ReturnType<typeof onnx.NodeProto.create>[] = [];
  private readonly inits: ReturnType<typeof onnx.TensorProto.create>[] = [];
  private readonly inputs: ReturnType<typeof onnx.ValueInfoProto.create>[] = [];
  private readonly outputs: ReturnType<typeof onnx.ValueInfoProto.create>[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  constructor(readonly name: string) {}

  /** A fresh value name starting with `hint`. */
  fresh(hint: string): string {
    let name = hint;
    while (this.used.has(name)) name = `${hint}_${++this.counter}`;
    this.used.add(name);
    return name;
  }

  input(name: string, dims: Dim[], type: ElemType = 'float'): string {
    const n = this.fresh(name);
    if (n !== name) throw new Error(`graph input name ${name} already used`);
    this.inputs.push(valueInfo(name, dims, type));
    return name;
  }

  /** Marks an existing value as a graph output (renaming it through Identity when needed). */
  output(value: string, name: string, dims: Dim[], type: ElemType = 'float'): string {
    let out = value;
    if (value !== name) {
      this.used.add(name);
      this.nodes.push(onnx.NodeProto.create({ opType: 'Identity', input: [value], output: [name], name: `${name}_out` }));
      out = name;
    }
    this.outputs.push(valueInfo(out, dims, type));
    return out;
  }

  /** A constant tensor stored in the graph. */
  initializer(hint: string, data: Float32Array | BigInt64Array | Int32Array | Int8Array | Uint8Array, dims: number[]): string {
    const name = this.fresh(hint);
    const count = dims.reduce((a, b) => a * b, 1);
    if (count !== data.length) throw new Error(`initializer ${hint}: ${data.length} values for shape [${dims}]`);
    const dataType =
      data instanceof Float32Array
        ? DataType.FLOAT
        : data instanceof BigInt64Array
          ? DataType.INT64
          : data instanceof Int8Array
            ? DataType.INT8
            : data instanceof Uint8Array
              ? DataType.UINT8
              : DataType.INT32;
    this.inits.push(
      onnx.TensorProto.create({
        name,
        dims,
        dataType,
        rawData: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      }),
    );
    return name;
  }

  floats(hint: string, values: number[] | Float32Array, dims?: number[]): string {
    const data = values instanceof Float32Array ? values : Float32Array.from(values);
    return this.initializer(hint, data, dims ?? [data.length]);
  }

  int64s(hint: string, values: number[], dims?: number[]): string {
    return this.initializer(hint, BigInt64Array.from(values.map(BigInt)), dims ?? [values.length]);
  }

  /** Adds a node and returns its output names. */
  node(opType: string, inputs: string[], attrs: Attrs = {}, outputCount = 1, hint?: string): string[] {
    const base = hint ?? opType.toLowerCase();
    const output = Array.from({ length: outputCount }, (_, i) => this.fresh(outputCount === 1 ? base : `${base}_${i}`));
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output,
        name: this.fresh(`${base}_node`),
        attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
      }),
    );
    return output;
  }

  /** Adds a single-output node and returns its output name. */
  op(opType: string, inputs: string[], attrs: Attrs = {}, hint?: string): string {
    return this.node(opType, inputs, attrs, 1, hint)[0]!;
  }

  toModel(opset = DEFAULT_OPSET) {
    return onnx.ModelProto.create({
      irVersion: 8,
      producerName: 'linesight',
      opsetImport: [{ domain: '', version: opset }],
      graph: onnx.GraphProto.create({
        name: this.name,
        node: this.nodes,
        initializer: this.inits,
        input: this.inputs,
        output: this.outputs,
      }),
    });
  }

  /** Serialised ModelProto, ready for `InferenceSession.create(bytes)`. */
  toBytes(opset = DEFAULT_OPSET): Uint8Array {
    return onnx.ModelProto.encode(this.toModel(opset)).finish();
  }
}
