import { Orchestrator } from 'legato';

const orchestrator = new Orchestrator();

const checkInventory = orchestrator.action(async (sku: string) => {
  console.log(`Checking inventory for SKU: ${sku}`);
  // ...lookup stock in DB...
  return { sku, inStock: true };
});

const notifyTeam = orchestrator.action(async (sku: string) => {
  console.log(`Notifying team about low stock for SKU: ${sku}`);
  // ...send Slack or email alert...
  return true;
});

async function main() {
  await orchestrator.run(async () => {
    const result = await checkInventory('ABC123');
    if (!result.inStock) {
      await notifyTeam('ABC123');
    }
  });
}

main();
