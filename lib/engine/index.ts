// The simulated engine (issue: "The JS engine"). Populated by lib/engine/*.
export {};
