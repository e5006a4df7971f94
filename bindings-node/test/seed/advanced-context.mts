import { Orchestrator } from 'legato';

interface ProcessContext {
  requestCount: number;
  errors: Error[];
  apiKey?: string;
  sessionData?: Record<string, unknown>;
}

const orchestrator = new Orchestrator<ProcessContext>();

// Initialize context
orchestrator
  .setState('requestCount', 0)
  .setState('errors', [])
  .onProcessBegin(async ({ context }) => {
    // Set up API authentication
    const apiKey = await fetchApiKey();
    context.apiKey = apiKey;
    console.log('Process started with API key');
  })
  .onTaskBegin(({ name, context }) => {
    // 'name' will be 'fetchUserData' or 'updateProfile' based on the function names below
    context.requestCount++;
    console.log(`Starting ${name}, request #${context.requestCount}`);
  })
  .onTaskCompletion(({ name, context }) => {
    // Track completion of specific named operations
    console.log(`Completed ${name}, total requests: ${context.requestCount}`);
  })
  .onProcessCompletion(async ({ context }) => {
    // Clean up and log metrics
    await logMetrics({
      requests: context.requestCount,
      errors: context.errors.length
    });
    context.apiKey = undefined; // Clear sensitive data
  });

// Define named API operations - these names will appear in the lifecycle hooks
const fetchUserData = orchestrator.action(async function fetchUserData(userId: string) {
  // Function name will be available as 'fetchUserData' in hooks
  const context = orchestrator.getState();
  const response = await fetch('/api/users/' + userId, {
    headers: { 'Authorization': `Bearer ${context.apiKey}` }
  });
  
  if (!response.ok) {
    const error = new Error('Failed to fetch user');
    context.errors.push(error);
    throw error;
  }
  
  return response.json();
});

const updateProfile = orchestrator.action(async function updateProfile(userId: string, data: unknown) {
  // Function name will be available as 'updateProfile' in hooks
  const context = orchestrator.getState();
  context.sessionData = { lastUpdate: new Date() };
  
  return fetch('/api/users/' + userId, {
    method: 'PUT',
    headers: { 'Authorization': `Bearer ${context.apiKey}` },
    body: JSON.stringify(data)
  });
});

// Use the orchestrated operations
await orchestrator.run(async () => {
  try {
    const userData = await fetchUserData('user123');
    await updateProfile('user123', { ...userData, lastLogin: new Date() });
  } catch (err) {
    // Error already tracked in context.errors
    console.error('Operation failed:', err);
  }
  
  const finalState = orchestrator.getState();
  console.log(`Process completed with ${finalState.errors.length} errors`);
});

// --- not in the README: the two helpers its example assumes exist ---
async function fetchApiKey(): Promise<string> { return 'test-key' }
async function logMetrics(m: { requests: number; errors: number }): Promise<void> { console.log('metrics', JSON.stringify(m)) }
