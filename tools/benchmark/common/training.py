"""One training step of an MMPretrain model, as the speed benchmarks time
it (no ``OptimWrapper``, no data preprocessor)."""
import torch


def loss_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer,
              inputs: torch.Tensor, data_samples: list) -> None:
    """Forward in ``loss`` mode, the sum of the loss terms (the keys with
    ``'loss'`` in their name), backward and one optimizer step."""
    losses = model.loss(inputs, data_samples)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
