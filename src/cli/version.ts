/** Latch's version, as `latch --version` prints it and OCSF exports name the product. */
export const VERSION = "0.1.0";
