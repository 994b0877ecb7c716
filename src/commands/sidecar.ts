export async function sidecar(_a: unknown): Promise<number> { return 1 }
