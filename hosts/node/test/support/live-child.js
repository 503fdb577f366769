// Run by conformance.test.js in a child process whose NODE_EXTRA_CA_CERTS trusts the simulator's
// CA: the component's own client then reaches the HTTPS listener. Prints the results as JSON.
import { loadCases, runScenario } from './conformance.js';

const sim = JSON.parse(process.env.WXCOUPON_TEST_SIMULATOR);
const results = await runScenario(loadCases('live'), sim, 'component-https');
process.stdout.write(JSON.stringify(results));
