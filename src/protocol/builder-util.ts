/**
 * Argument checks shared by the encoders.
 */
import { checkInteger } from '../validate.js'

/** Checks a u32 message id. */
export function checkId(id: number, name = 'id'): void {
  checkInteger(name, id, 0, 0xffffffff)
}
