/**
 * The server's answers pinned by `tests/test_frontend_contract.py` (pytest writes them
 * from a real server into `contract/`), and what the Jest tests need to read them as
 * JupyterLab would.
 */
import { readFileSync } from 'fs';
import { join } from 'path';

import { Translate } from '../models/errors';

/** One pinned answer: the HTTP status, the reason phrase and the JSON body. */
export interface IContractAnswer<T> {
  status: number;
  reason_phrase: string;
  body: T;
  /** The request that produced it, where the frontend needs it too. */
  request?: { path: string; model: { type: string; content: unknown } };
}

/** The pinned answer in `contract/NAME`. */
export function contract<T>(name: string): IContractAnswer<T> {
  const text = readFileSync(join(__dirname, 'contract', name), 'utf-8');
  return JSON.parse(text) as IContractAnswer<T>;
}

/** An answer's body as the text the server sent (for the request helper's parser). */
export function bodyText(answer: IContractAnswer<unknown>): string {
  return answer.body === null ? '' : JSON.stringify(answer.body);
}

/**
 * The error JupyterLab's contents service raises for a refused save: the body is read
 * already, its `message` is the error's message, the response keeps status and reason
 * phrase.
 */
export function contentsError(
  answer: IContractAnswer<{ message?: string } | null>
): Error {
  const error = new Error(answer.body?.message ?? '');
  return Object.assign(error, {
    response: new Response(null, {
      status: answer.status,
      statusText: answer.reason_phrase
    })
  });
}

/** English strings with `%1`-style arguments, as JupyterLab's null translator gives. */
export const trans: Translate = {
  __: (message: string, ...args: unknown[]): string =>
    message.replace(/%(\d+)/g, (placeholder, index: string) =>
      index !== '0' && Number(index) <= args.length
        ? String(args[Number(index) - 1])
        : placeholder
    )
};

/** The fields an interface declares, listed once in a record so none is forgotten. */
export function fields<T>(declared: Record<keyof T, true>): string[] {
  return Object.keys(declared).sort();
}
