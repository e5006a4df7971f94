import { Orchestrator } from 'legato';

const orchestrator = new Orchestrator();

const getUserProfile = orchestrator.action(async (userId: string) => {
  console.log(`Fetching profile for user ${userId}...`);
  // ...call user service...
  return { userId, name: 'Alice' };
});

const getShippingOptions = orchestrator.action(async (destination: string) => {
  console.log(`Fetching shipping options for ${destination}...`);
  // ...call shipping provider...
  return ['Standard', 'Express', 'Overnight'];
});

// Run them in parallel
const parallelTasks = orchestrator.parallel([getUserProfile, getShippingOptions]);

await orchestrator.run(async () => {
  const [profile, shippingMethods] = await parallelTasks('user42', 'USA');
  console.log('Results:', profile, shippingMethods);
});
