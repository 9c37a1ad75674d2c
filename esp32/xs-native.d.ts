// xsc's native bindings, as the Moddable SDK's xs/includes/xs.d.ts declares them (the @moddable/typings
// package the repository type-checks against lacks them). For esp32/tsconfig.json only: mcconfig
// compiles esp32/ against the SDK's own declarations.
declare function Native(name: string): new (...args: any[]) => any;
declare function native(name: string): (...args: any[]) => any;
