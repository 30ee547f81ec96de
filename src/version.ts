// The daemon's version, as package.json says (a unit test keeps the two equal). A constant rather
// than a read of package.json: the file sits at a different depth under src/ and dist/src/.
export const VERSION = '0.1.0';
