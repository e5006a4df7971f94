import { Orchestrator } from 'legato';

const orchestrator = new Orchestrator();

orchestrator
  .onProcessBegin(({ time }) => {
    console.log('Process started at', time);
  })
  .onTaskBegin(({ name, startTime }) => {
    console.log(`Task ${name} started at ${startTime}`);
  })
  .onTaskCompletion(({ name, duration }) => {
    console.log(`Task ${name} completed in ${duration}ms`);
  })
  .onProcessCompletion(({ totalDuration }) => {
    console.log(`Process completed in ${totalDuration}ms`);
  });

const stepA = orchestrator.action(() => {
  // ...some synchronous work...
});

const stepB = orchestrator.action(async () => {
  // ...some asynchronous work...
});

await orchestrator.run(async () => {
  await stepA();
  await stepB();
});
