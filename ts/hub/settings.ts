/**
 * Hub settings from the environment, with the same names and precedence as Python's
 * `huggingface_hub`, so that both tools share one cache and one configuration.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_ENDPOINT = 'https://huggingface.co';

type Env = Record<string, string | undefined>;

function nonEmpty(value: string | undefined): string | undefined {
  return value !== undefined && value.trim() !== '' ? value : undefined;
}

function expandHome(p: string): string {
  if (p === '~') return os.homedir();
  if (p.startsWith('~/')) return path.join(os.homedir(), p.slice(2));
  return p;
}

/** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
export function hfHome(env: Env = process.env): string {
  const home = nonEmpty(env.HF_HOME);
  if (home) return path.resolve(expandHome(home));
  const xdg = nonEmpty(env.XDG_CACHE_HOME) ?? path.join(os.homedir(), '.cache');
  return path.resolve(expandHome(xdg), 'huggingface');
}

/** `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE` (legacy), else `$HF_HOME/hub`. */
export function hubCacheDir(env: Env = process.env): string {
  const dir = nonEmpty(env.HF_HUB_CACHE) ?? nonEmpty(env.HUGGINGFACE_HUB_CACHE);
  if (dir) return path.resolve(expandHome(dir));
  return path.join(hfHome(env), 'hub');
}

/** `$HF_ENDPOINT` without a trailing slash, else https://huggingface.co. */
export function hubEndpoint(env: Env = process.env): string {
  return (nonEmpty(env.HF_ENDPOINT) ?? DEFAULT_ENDPOINT).replace(/\/+$/, '');
}

/** True for the values `huggingface_hub` accepts as true: 1, ON, YES, TRUE (any case). */
export function isTruthy(value: string | undefined): boolean {
  return value !== undefined && ['1', 'ON', 'YES', 'TRUE'].includes(value.trim().toUpperCase());
}

/** `HF_HUB_OFFLINE=1`: never touch the network. */
export function isOffline(env: Env = process.env): boolean {
  return isTruthy(env.HF_HUB_OFFLINE);
}

/**
 * The access token: `$HF_TOKEN`, else the file `$HF_TOKEN_PATH` or `$HF_HOME/token` written by
 * `huggingface-cli login`. Undefined when there is none.
 */
export function hubToken(env: Env = process.env): string | undefined {
  const token = nonEmpty(env.HF_TOKEN) ?? nonEmpty(env.HUGGING_FACE_HUB_TOKEN);
  if (token) return token.trim();
  const file = nonEmpty(env.HF_TOKEN_PATH) ?? path.join(hfHome(env), 'token');
  try {
    return nonEmpty(readFileSync(expandHome(file), 'utf8'))?.trim();
  } catch {
    return undefined;
  }
}
