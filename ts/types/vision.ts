/**
 * Request/response types of the vision tasks (image-classification, object-detection,
 * image-segmentation), snake_case as the Inference API's task specs.
 */

/**
 * One image: the bytes of an encoded file (JPEG, PNG, WebP, GIF, BMP, TIFF), a base64 string, a
 * `data:` URL, or (library only) a path to a file.
 */
export type ImageInput = Uint8Array | ArrayBuffer | string;

export interface ImageClassificationParameters {
  /** Labels returned, best first (default 5, capped at the number of labels). */
  top_k?: number | null;
  /** Score function; default from the model config (sigmoid for multi-label or one label, else softmax). */
  function_to_apply?: 'sigmoid' | 'softmax' | 'none';
}

export interface ImageClassificationOutputElement {
  label: string;
  score: number;
}
export type ImageClassificationOutput = ImageClassificationOutputElement[];

export interface ObjectDetectionParameters {
  /** Keep detections whose score is strictly above this (0..1, default 0.5). */
  threshold?: number;
}

export interface BoundingBox {
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

export interface ObjectDetectionOutputElement {
  score: number;
  label: string;
  /** Pixel corners at the (EXIF-oriented) image size, truncated to integers, not clamped. */
  box: BoundingBox;
}
export type ObjectDetectionOutput = ObjectDetectionOutputElement[];

export type ImageSegmentationSubtask = 'panoptic' | 'instance' | 'semantic';

export interface ImageSegmentationParameters {
  /** Default: the first the model supports of panoptic, instance, semantic. */
  subtask?: ImageSegmentationSubtask;
  /** Query score threshold (panoptic/instance, default 0.9). */
  threshold?: number;
  /** Mask probability threshold (default 0.5). */
  mask_threshold?: number;
  /** Smallest kept share of a query's mask that it wins (default 0.5). */
  overlap_mask_area_threshold?: number;
}

export interface ImageSegmentationOutputElement {
  /** Query score rounded to 6 decimals; null for semantic segments. */
  score: number | null;
  label: string;
  /** 8-bit grayscale PNG (255 inside, 0 outside) at the image size, base64. */
  mask: string;
}
export type ImageSegmentationOutput = ImageSegmentationOutputElement[];
