/** An image as the networks see it, shared by every layer above the models. */
export interface RgbImage {
  /** HWC, RGB, values 0..255. */
  data: Float32Array;
  width: number;
  height: number;
}
