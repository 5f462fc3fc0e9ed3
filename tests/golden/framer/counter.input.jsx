import { useState } from "react"

const Counter = ({ start = 0, step = 1, label = "Clicks" }) => {
  const [count, setCount] = useState(start)
  return (
    <div className="counter">
      <span>{label}: {count}</span>
      <button onClick={() => setCount(count + step)}>+{step}</button>
    </div>
  )
}

export default Counter
