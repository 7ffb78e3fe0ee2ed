/** User and role names: lower case, start with a letter or `_`, at most 32 characters. */
export const USER_NAME_PATTERN = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** True when `name` could name a user or a role. */
export function isValidName(name: string): boolean {
  return USER_NAME_PATTERN.test(name);
}
