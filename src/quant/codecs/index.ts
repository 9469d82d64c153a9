// Imports every codec module so that each registers itself.
export {};
