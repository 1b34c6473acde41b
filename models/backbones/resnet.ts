/**
 * torchvision / timm ResNet-18 and WideResNet-50-2 from their state-dict
 * tensors (safetensors), as layer IR with batch-norm folded into the convs.
 * Names follow torchvision: conv1, bn1, layerN.B.convK, layerN.B.bnK,
 * layerN.B.downsample.{0,1}; the classifier (fc) is ignored.
 */
import { foldBatchNorm, type BackboneIR, type ConvNode, type LayerNode } from '../ir.ts';
import type { DecodedTensor } from '../safetensors.ts';

export const RESNET_IDS = ['resnet18', 'wide_resnet50_2'] as const;
export type ResnetId = (typeof RESNET_IDS)[number];

const architectures: Record<ResnetId, { block: 'basic' | 'bottleneck'; depths: number[]; width: number }> = {
  resnet18: { block: 'basic', depths: [2, 2, 2, 2], width: 64 },
  wide_resnet50_2: { block: 'bottleneck', depths: [3, 4, 6, 3], width: 128 },
};

export function resnetFromSafetensors(id: ResnetId, tensors: Map<string, DecodedTensor>): BackboneIR {
  const arch = architectures[id];
  const nodes: LayerNode[] = [];
  const tensor = (name: string, shape: number[]): Float32Array => {
    const t = tensors.get(name);
    if (!t) throw new Error(`${id} weights: tensor ${name} is missing (expected shape [${shape}])`);
    if (t.shape.join() !== shape.join() || !(t.data instanceof Float32Array)) {
      throw new Error(`${id} weights: tensor ${name} has shape [${t.shape}] ${t.dtype}, expected [${shape}] float`);
    }
    return t.data;
  };
  const convBn = (name: string, input: string, conv: string, bn: string, cin: number, cout: number, k: number, stride: number): string => {
    const node: ConvNode = {
      op: 'conv',
      name,
      input,
      weight: tensor(`${conv}.weight`, [cout, cin, k, k]),
      weightShape: [cout, cin, k, k],
      stride: [stride, stride],
      pads: [(k - 1) >> 1, (k - 1) >> 1, (k - 1) >> 1, (k - 1) >> 1],
      dilation: [1, 1],
      group: 1,
    };
    nodes.push(
      foldBatchNorm(node, {
        gamma: tensor(`${bn}.weight`, [cout]),
        beta: tensor(`${bn}.bias`, [cout]),
        mean: tensor(`${bn}.running_mean`, [cout]),
        variance: tensor(`${bn}.running_var`, [cout]),
        epsilon: 1e-5,
      }),
    );
    return name;
  };
  const relu = (name: string, input: string) => {
    nodes.push({ op: 'relu', name, input });
    return name;
  };
  let x = relu('stem_relu', convBn('stem_conv', 'image', 'conv1', 'bn1', 3, 64, 7, 2));
  nodes.push({ op: 'maxpool', name: 'stem_pool', input: x, kernel: [3, 3], stride: [2, 2], pads: [1, 1, 1, 1] });
  x = 'stem_pool';
  let channels = 64;
  const featureLayers = [];
  for (let stage = 0; stage < 4; stage++) {
    const planes = 64 * 2 ** stage;
    const expansion = arch.block === 'basic' ? 1 : 4;
    const outC = planes * expansion;
    for (let b = 0; b < arch.depths[stage]!; b++) {
      const p = `layer${stage + 1}.${b}`;
      const stride = b === 0 && stage > 0 ? 2 : 1;
      let y: string;
      if (arch.block === 'basic') {
        y = relu(`${p}.relu1`, convBn(`${p}.conv1`, x, `${p}.conv1`, `${p}.bn1`, channels, planes, 3, stride));
        y = convBn(`${p}.conv2`, y, `${p}.conv2`, `${p}.bn2`, planes, planes, 3, 1);
      } else {
        const width = (planes * arch.width) / 64;
        y = relu(`${p}.relu1`, convBn(`${p}.conv1`, x, `${p}.conv1`, `${p}.bn1`, channels, width, 1, 1));
        y = relu(`${p}.relu2`, convBn(`${p}.conv2`, y, `${p}.conv2`, `${p}.bn2`, width, width, 3, stride));
        y = convBn(`${p}.conv3`, y, `${p}.conv3`, `${p}.bn3`, width, outC, 1, 1);
      }
      const shortcut = stride !== 1 || channels !== outC ? convBn(`${p}.downsample`, x, `${p}.downsample.0`, `${p}.downsample.1`, channels, outC, 1, stride) : x;
      nodes.push({ op: 'add', name: `${p}.add`, inputs: [y, shortcut] });
      x = relu(b === arch.depths[stage]! - 1 ? `layer${stage + 1}` : `${p}.out`, `${p}.add`);
      channels = outC;
    }
    featureLayers.push({ name: `layer${stage + 1}`, channels, stride: 4 * 2 ** stage });
  }
  return { id, input: 'image', preprocess: { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] }, nodes, featureLayers };
}
