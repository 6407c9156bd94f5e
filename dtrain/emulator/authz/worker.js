// The IAM decision engine behind dtrain.emulator.authz: @cloud-copilot/iam-simulate in one
// long-lived Node process. Protocol: one JSON object per line on stdin,
//   {"id": n, "simulation": <iam-simulate Simulation>, "unsafe": false}
// and one JSON object per line on stdout,
//   {"id": n, "decision": "Allowed"|"ExplicitlyDenied"|"ImplicitlyDenied", "reasons": [...]}
// or {"id": n, "error": "<message>"} when the simulation's input is invalid.
'use strict'
const readline = require('node:readline')
const { runSimulation, runUnsafeSimulation, getDenialReasons } = require('@cloud-copilot/iam-simulate')

async function answer(line) {
  const msg = JSON.parse(line)
  try {
    if (msg.unsafe) {
      // Without the resource-type validation: for actions AWS authorizes on a resource the
      // Service Authorization Reference does not list (the caller says which, and why).
      return { id: msg.id, decision: runUnsafeSimulation(msg.simulation, { simulationMode: 'Strict' }), reasons: [] }
    }
    const out = await runSimulation(msg.simulation, { simulationMode: 'Strict' })
    if (out.resultType === 'error') {
      return { id: msg.id, error: out.errors.message, details: out.errors }
    }
    const analysis = out.resultType === 'single' ? out.result.analysis : out.results[0]?.analysis
    const reasons = out.overallResult === 'Allowed' || !analysis ? [] : getDenialReasons(analysis)
    return { id: msg.id, decision: out.overallResult, reasons }
  } catch (err) {
    return { id: msg.id, error: String((err && err.message) || err) }
  }
}

const rl = readline.createInterface({ input: process.stdin, terminal: false })
rl.on('line', (line) => {
  if (!line.trim()) return
  answer(line).then((reply) => process.stdout.write(JSON.stringify(reply) + '\n'))
})
