/**
 * torchvision / timm ResNet-18 and WideResNet-50-2 from their state-dict
 * tensors (as stored in safetensors), turned into layer IR with batch-norm
 * folded into the convolutions.
 *
 * State-dict names follow torchvision (timm keeps them): `conv1`, `bn1`,
 * `layerN.B.convK`, `layerN.B.bnK`, `layerN.B.downsample.0` (1x1 conv) and
 * `.1` (its batch-norm); batch-norms have `weight`, `bias`, `running_mean`,
 * `running_var` (eps 1e-5). The classifier (`fc.*`) and `num_batches_tracked`
 * counters are ignored. Any other tensor means the file holds another network
 * and is refused.
 *
 * Architecture (torchvision ResNet v1.5: the stride sits on the 3x3 conv):
 * stem conv 7x7/2 pad 3, bn, relu, maxpool 3x3/2 pad 1; four stages of
 * BasicBlocks [2,2,2,2] (resnet18) or Bottlenecks [3,4,6,3] whose inner width
 * is doubled (wide_resnet50_2: width per group 128 instead of 64).
 * Feature layers `layer1`..`layer4` are the outputs of the stages
 * (strides 4, 8, 16, 32).
 */
import { foldBatchNorm, type BackboneIR, type ConvNode, type LayerInfo, type LayerNode, type Preprocess } from '../ir.ts';
import type { TensorData } from '../safetensors.ts';

export const RESNET_IDS = ['resnet18', 'wide_resnet50_2'] as const;
export type ResnetId = (typeof RESNET_IDS)[number];

interface Architecture {
  block: 'basic' | 'bottleneck';
  blocksPerStage: [number, number, number, number];
  /** Inner width of a bottleneck per 64 planes (torchvision `width_per_group`). */
  widthPerGroup: number;
}

const ARCHITECTURES: Record<ResnetId, Architecture> = {
  resnet18: { block: 'basic', blocksPerStage: [2, 2, 2, 2], widthPerGroup: 64 },
  wide_resnet50_2: { block: 'bottleneck', blocksPerStage: [3, 4, 6, 3], widthPerGroup: 128 },
};

/** torchvision's ImageNet normalisation. */
const imagenetPreprocess = (): Preprocess => ({ mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
const BN_EPSILON = 1e-5;

export function isResnetId(id: string): id is ResnetId {
  return (RESNET_IDS as readonly string[]).includes(id);
}

/** The feature layers of a ResNet: stage outputs with their channels and strides. */
export function resnetFeatureLayers(id: ResnetId): LayerInfo[] {
  const expansion = ARCHITECTURES[id].block === 'basic' ? 1 : 4;
  return [0, 1, 2, 3].map((stage) => ({ name: `layer${stage + 1}`, channels: 64 * 2 ** stage * expansion, stride: 4 * 2 ** stage }));
}

function ignored(name: string): boolean {
  return name.startsWith('fc.') || name.endsWith('.num_batches_tracked');
}

/**
 * Builds the IR of `id` from a state dict. `source` (the file path) starts
 * error messages; a missing, misshapen or non-finite tensor is named with the
 * shape it should have.
 */
export function resnetFromSafetensors(
  id: ResnetId,
  tensors: ReadonlyMap<string, { dtype?: string; shape: number[]; data: TensorData }>,
  source = `${id} weights`,
): BackboneIR {
  if (!isResnetId(id)) throw new Error(`unknown ResNet "${String(id)}" (known: ${RESNET_IDS.join(', ')})`);
  const arch = ARCHITECTURES[id];
  const used = new Set<string>();
  const nodes: LayerNode[] = [];

  const tensor = (name: string, shape: number[], positive = false): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${source}: tensor ${name} is missing (expected shape [${shape}] for ${id})`);
    if (t.shape.join() !== shape.join() || !(t.data instanceof Float32Array)) {
      throw new Error(`${source}: tensor ${name} has shape [${t.shape}]${t.dtype ? ` ${t.dtype}` : ''}, expected [${shape}] floating point for ${id}`);
    }
    const data = t.data;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (!Number.isFinite(v) || (positive && v < 0)) {
        throw new Error(`${source}: tensor ${name} contains ${Number.isFinite(v) ? 'negative variances' : 'NaN or infinite values'} (corrupt weights?)`);
      }
    }
    used.add(name);
    return data;
  };

  /** A convolution (no bias) followed by its batch-norm, folded into one conv node. */
  const convBn = (node: string, input: string, conv: string, bn: string, cin: number, cout: number, k: number, stride: number): string => {
    const pad = (k - 1) >> 1;
    const raw: ConvNode = {
      op: 'conv',
      name: node,
      input,
      weight: tensor(`${conv}.weight`, [cout, cin, k, k]),
      weightShape: [cout, cin, k, k],
      stride: [stride, stride],
      pads: [pad, pad, pad, pad],
      dilation: [1, 1],
      group: 1,
    };
    nodes.push(
      foldBatchNorm(raw, {
        gamma: tensor(`${bn}.weight`, [cout]),
        beta: tensor(`${bn}.bias`, [cout]),
        mean: tensor(`${bn}.running_mean`, [cout]),
        variance: tensor(`${bn}.running_var`, [cout], true),
        epsilon: BN_EPSILON,
      }),
    );
    return node;
  };
  const relu = (name: string, input: string): string => {
    nodes.push({ op: 'relu', name, input });
    return name;
  };

  let x = relu('stem_relu', convBn('stem_conv', 'image', 'conv1', 'bn1', 3, 64, 7, 2));
  nodes.push({ op: 'maxpool', name: 'stem_pool', input: x, kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] });
  x = 'stem_pool';
  let channels = 64;
  const expansion = arch.block === 'basic' ? 1 : 4;
  for (let stage = 0; stage < 4; stage++) {
    const planes = 64 * 2 ** stage;
    const outChannels = planes * expansion;
    const blocks = arch.blocksPerStage[stage]!;
    for (let b = 0; b < blocks; b++) {
      const p = `layer${stage + 1}.${b}`;
      const stride = b === 0 && stage > 0 ? 2 : 1;
      let y: string;
      if (arch.block === 'basic') {
        y = relu(`${p}.relu1`, convBn(`${p}.conv1`, x, `${p}.conv1`, `${p}.bn1`, channels, planes, 3, stride));
        y = convBn(`${p}.conv2`, y, `${p}.conv2`, `${p}.bn2`, planes, planes, 3, 1);
      } else {
        const width = (planes * arch.widthPerGroup) / 64;
        y = relu(`${p}.relu1`, convBn(`${p}.conv1`, x, `${p}.conv1`, `${p}.bn1`, channels, width, 1, 1));
        y = relu(`${p}.relu2`, convBn(`${p}.conv2`, y, `${p}.conv2`, `${p}.bn2`, width, width, 3, stride));
        y = convBn(`${p}.conv3`, y, `${p}.conv3`, `${p}.bn3`, width, outChannels, 1, 1);
      }
      const shortcut =
        stride !== 1 || channels !== outChannels ? convBn(`${p}.downsample`, x, `${p}.downsample.0`, `${p}.downsample.1`, channels, outChannels, 1, stride) : x;
      nodes.push({ op: 'add', name: `${p}.add`, inputs: [y, shortcut] });
      // The last block's output is the stage's feature layer.
      x = relu(b === blocks - 1 ? `layer${stage + 1}` : `${p}.out`, `${p}.add`);
      channels = outChannels;
    }
  }

  const foreign = [...tensors.keys()].filter((name) => !used.has(name) && !ignored(name));
  if (foreign.length > 0) {
    const shown = foreign.slice(0, 3).join(', ') + (foreign.length > 3 ? ` and ${foreign.length - 3} more` : '');
    throw new Error(`${source}: tensors ${shown} are not part of ${id} (weights of another network?)`);
  }
  return { id, input: 'image', preprocess: imagenetPreprocess(), nodes, featureLayers: resnetFeatureLayers(id) };
}
